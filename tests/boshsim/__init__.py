"""A simulated BOSH director and stand-ins for the bosh CLI (v2 and v1) and bbr.

Faithful to shared/BOSH-FACTS.md and to what the real tools print; see README.md.
"""
