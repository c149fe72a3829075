"""Fixed facts about the standard stimuli and the table of registered generators (data, no logic)."""

from __future__ import annotations

DEFAULT_FRAME_RATE_HZ = 30.0

# The chirp (Baden et al. 2016; Euler lab QDSpy script RGC_Chirp_2.py): full field, 33 s.
# (segment name, duration in seconds) in presentation order.
CHIRP_SEGMENTS: tuple[tuple[str, float], ...] = (
    ("dark", 2.0),
    ("on", 3.0),
    ("dark_after_on", 3.0),
    ("grey", 2.0),
    ("frequency_sweep", 8.0),
    ("grey_after_sweep", 2.0),
    ("contrast_ramp", 8.0),
    ("grey_after_ramp", 2.0),
    ("dark_end", 3.0),
)
CHIRP_DURATION_S = 33.0
CHIRP_SWEEP_RATE_HZ_PER_S = 1.0  # sin(pi * K * tau**2): instantaneous frequency K * tau, 0 -> 8 Hz over 8 s
CHIRP_CONTRAST_FREQUENCY_HZ = 2.0

# The moving-bar protocol (QDSpy RGC_MovingBar_2.py): one sweep per direction, in this order.
MOVING_BAR_DIRECTIONS_DEG: tuple[float, ...] = (0.0, 180.0, 45.0, 225.0, 90.0, 270.0, 135.0, 315.0)
# Seconds per direction in openretina's pre-rendered 30 Hz stack (123 frames), without the 3 s lead-in
# and the 1 s tail.
MOVING_BAR_SEGMENT_S = 4.1

# name -> (module, function, description, parameter units). Read by the register_stimuli hook.
GENERATORS: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "gratings": (
        "openretina_stimuli.gratings",
        "generate_gratings",
        "Drifting sinusoidal or square-wave gratings.",
        {
            "shape": "(channels, frames, height pixels, width pixels)",
            "temporal_frequency": "Hz (cycles per second)",
            "spatial_frequency": "cycles per pixel",
            "orientation": "degrees, direction of drift: 0 = toward +width (right), 90 = toward -row (up)",
            "phase": "degrees, at the screen centre on frame 0",
            "frame_rate": "Hz",
            "contrast": "amplitude (value units)",
            "mean": "value units",
        },
    ),
    "noise": (
        "openretina_stimuli.noise",
        "generate_noise_stimulus",
        "Gaussian, uniform or binary (checkerboard) noise, optionally spatially/temporally correlated.",
        {
            "shape": "(channels, frames, height pixels, width pixels)",
            "pixel_size": "pixels per noise pixel (square blocks)",
            "frame_duration": "frames per noise frame",
            "spatial_sigma": "noise pixels (Gaussian correlation: exp(-d**2 / (4 sigma**2)))",
            "temporal_sigma": "noise frames (Gaussian correlation: exp(-lag**2 / (4 sigma**2)))",
            "mean": "value units",
            "std": "value units",
        },
    ),
    "moving_bar": (
        "openretina_stimuli.bars",
        "generate_moving_bar",
        "One bright bar moving across a dark background.",
        {
            "shape": "(channels, frames, height pixels, width pixels)",
            "width": "pixels (along the motion)",
            "length": "pixels (across the motion); None spans the screen",
            "speed": "pixels per frame",
            "direction": "degrees: 0 = toward +width (right), 90 = toward -row (up), counter-clockwise",
            "start_position": "pixels along the direction, relative to the screen centre",
        },
    ),
    "moving_bar_protocol": (
        "openretina_stimuli.bars",
        "generate_moving_bar_protocol",
        "The 8-direction moving-bar protocol (0,180,45,225,90,270,135,315 degrees), one sweep per direction.",
        {
            "shape": "(channels, frames, height pixels, width pixels); frames divisible by the directions",
            "frame_rate": "Hz (optional; checked against the frame count)",
            "width": "pixels",
            "length": "pixels; None spans the screen",
            "speed": "pixels per frame; None crosses the screen once per direction",
            "directions": "degrees, same convention as moving_bar",
        },
    ),
    "chirp": (
        "openretina_stimuli.fullfield",
        "generate_chirp",
        "The 33 s full-field chirp: steps, 0-8 Hz frequency sweep, 2 Hz contrast ramp.",
        {
            "shape": "(channels, frames, height pixels, width pixels)",
            "frame_rate": "Hz (optional; default frames / 33 s)",
            "dark": "value units",
            "bright": "value units",
        },
    ),
    "flashes": (
        "openretina_stimuli.fullfield",
        "generate_flashes",
        "Periodic full-field flashes (ON, OFF or alternating) from a mean level.",
        {
            "shape": "(channels, frames, height pixels, width pixels)",
            "frame_rate": "Hz",
            "flash_duration": "seconds",
            "interval": "seconds (mean level before each flash)",
            "contrast": "value units",
            "mean": "value units",
        },
    ),
    "colored_stimulus": (
        "openretina_stimuli.fullfield",
        "generate_colored_stimulus",
        "A full-field step in one colour channel (the others stay at the background).",
        {
            "shape": "(channels, frames, height pixels, width pixels)",
            "channel_idx": "index of the stepped channel",
            "pad_front": "frames before the step",
            "pad_end": "frames after the step",
            "intensity": "value units",
            "background": "value units",
        },
    ),
}
