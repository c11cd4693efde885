"""One router per resource: sessions, campaigns (annotation), arenas, admin."""
