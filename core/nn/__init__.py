"""Neural-network parts: building blocks, networks, losses and helpers."""
