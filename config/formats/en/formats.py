"""Dates as the operator console shows them: ISO order, 24-hour time, the same width in every
row ("Dec. 6, 2026, 3:54 p.m." took a list's column and a half)."""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
