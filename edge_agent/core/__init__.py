"""Pure logic of the agent: arrays and values in, values out, no I/O."""
