"""Executors run scene lists and report results; the driver plans (render/driver.py)."""
