"""Marketplace writes: publishing and review (publishing.py), installs, payments and ratings
(installs.py), the revenue ledger and payouts (revenue.py)."""
