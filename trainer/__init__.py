"""Tune-ups (LoRA SFT and DPO from the user's own chats) live here.

Empty until the tune-up issue: the foundation only stores the signal
(thumbs, edited replies, branches) that the trainer will read.
"""
