"""Pure data formats: bytes in, numpy arrays out, and back."""
