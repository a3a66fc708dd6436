"""IB Gateway simulator speaking the TWS socket protocol."""
