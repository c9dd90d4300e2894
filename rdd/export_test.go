package rdd

// PartitionOfKey exposes partitionOfKey to the external tests.
var PartitionOfKey = partitionOfKey[string, int]
