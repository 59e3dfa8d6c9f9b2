package dev.panpipe.cli.image;

import java.io.IOException;

/** An image that could not be decoded (not an image, an unsupported kind, or damaged); names its source. */
public final class ImageDecodeException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String source;

    public ImageDecodeException(String source, String reason, Throwable cause) {
        super(source + ": cannot decode image: " + reason, cause);
        this.source = source;
    }

    /** The file (or resource) that failed, as given to the reader. */
    public String source() {
        return source;
    }
}
