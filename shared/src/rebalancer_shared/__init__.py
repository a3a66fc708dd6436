"""Settings, models, the reliable Redis queue and logging shared by every service."""
