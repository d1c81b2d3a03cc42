"""kubectl bosh-backup, the day-two command line."""
