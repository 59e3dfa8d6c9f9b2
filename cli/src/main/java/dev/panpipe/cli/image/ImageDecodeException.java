package dev.panpipe.cli.image;

import java.io.IOException;

/** An image that could not be decoded (not an image, an unsupported kind, or damaged); names its source. */
public final class ImageDecodeException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String source;
    private final String reason;

    public ImageDecodeException(String source, String reason, Throwable cause) {
        super(source + ": cannot decode image: " + reason, cause);
        this.source = source;
        this.reason = reason;
    }

    /** What was wrong, without the source: "png: Error reading PNG image data", "not a PNG or JPEG file ...". */
    public String reason() {
        return reason;
    }

    /** The file (or resource) that failed, as given to the reader. */
    public String source() {
        return source;
    }
}
