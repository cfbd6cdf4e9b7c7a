"""Bank statements (CAMT.053/054, MT940, CFONB 120, OFX, CSV) to normalized bank lines."""
