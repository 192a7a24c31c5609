// Registered by the family's author; empty until then.
