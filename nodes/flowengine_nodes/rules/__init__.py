"""The ``rule`` node: rule kinds over event time, with durable state."""
