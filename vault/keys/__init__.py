"""Key rotation, rewrap and the key provider's status."""
