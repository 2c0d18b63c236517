"""gestsearch: find the moments where a speaker gestures a word or phrase.

Built on JEGAL (ICCV 2025) with the GestSync (BMVC 2023) visual trunk.
"""

__version__ = "0.1.0"
