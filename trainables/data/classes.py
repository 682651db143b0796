"""The classes of synthetic-actions. Each pair is the time reversal of the other, so a
label can only be read from the order of the frames, never from one frame."""
SYNTH_CLASSES = (
    "move_left", "move_right",
    "move_up", "move_down",
    "rotate_clockwise", "rotate_counterclockwise",
    "grow", "shrink",
)

# How the clips are drawn (trainables/data/synth.py says what each style is for).
SYNTH_STYLES = ("flat", "textured")
