package com.kosmosx.contracts;

/**
 * An image validated and normalised by the API before publication (so a job message stays under 1
 * MiB). {@code data} is the normalised image (base64 PNG/JPEG); the rest describes the original.
 */
public record ImageInput(String data, int width, int height, String format, String sha256) {}
