"""Ledger sources (FEC, CSV/XLSX exports, SQL) to one normalized ledger, customers, open items."""
