"""Lightning: one narrow backend interface (``base``), Core Lightning, and a simulated node."""
