"""Built-in hook implementations, registered before any entry point and overridable by user plugins."""
