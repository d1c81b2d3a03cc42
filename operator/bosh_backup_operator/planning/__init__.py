"""Spec to plan (pure): backup, restore, schedule, retention."""
