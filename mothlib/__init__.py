"""mothlib: the hawkmoth motif study (Zahn, Daniel & Kutz 2024) as a reusable library."""

__version__ = "0.1.0"
