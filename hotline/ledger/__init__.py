"""The ledger (台帐): every call exactly once, work orders, reports, storage."""
