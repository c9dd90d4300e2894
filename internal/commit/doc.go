// Package commit is the file-system side of committing a job's output,
// after Hadoop's v1 FileOutputCommitter, in one place: the layout of an
// output directory, a task attempt's temporary file and its commit, the
// job's commit and abort, and the checks a reader makes of a committed
// output. Which attempt may commit is the driver's decision (an
// Authorizer: the scheduler's CanCommit); this package only moves files.
//
// The layout, under the output directory dir:
//
//	dir/_temporary/0/_temporary/attempt_S_PPPPP_A/part-PPPPP  an attempt writing
//	dir/_temporary/0/task_PPPPP/part-PPPPP                     a committed task
//	dir/part-PPPPP, dir/_SUCCESS                               a committed job
//
// A job runs:
//
//	created, err := commit.SetupJob(dir) // on the driver
//	a, err := commit.NewAttempt(dir, stage, part, attempt) // in each task
//	// write a.Path(), then
//	ok, err := a.Commit(ctx, coordinator) // or a.Abort()
//	err = commit.CommitJob(dir, parts) // on the driver, once every task committed
//	commit.AbortJob(dir, created) // instead, when the job failed
//
// and a reader checks the result with Check, or lists it with Parts.
//
// An output in object storage (s3://) has no renames: SetupObjectJob,
// NewObjectAttempt (an uncompleted multipart upload to the part's final
// key; Commit returns it as the task's result), ObjectJob.Commit
// (complete the accepted uploads, abort the rest, write a _SUCCESS
// manifest) and CheckObjects; see object.go.
package commit
