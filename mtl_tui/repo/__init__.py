"""The user's repository: finding it, its languages, snapshots, diffs and undo."""
