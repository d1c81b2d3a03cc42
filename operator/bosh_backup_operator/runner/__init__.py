"""What runs inside the backup/restore pod."""
