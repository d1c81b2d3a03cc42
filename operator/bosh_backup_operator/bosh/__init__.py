"""bosh / bbr command lines and output parsers (pure)."""
