"""Django's SQLite backend, with writers that take the write lock in turn instead of polling."""
