-- Nothing to undo: 000008 only filled canonical values that 000007 added.
SELECT 1;
