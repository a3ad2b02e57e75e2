"""mailflow: the email side of an appointment-booking business."""

__version__ = "0.1.0"
