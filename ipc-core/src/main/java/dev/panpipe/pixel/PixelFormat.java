package dev.panpipe.pixel;

/** How the bytes of one pixel are laid out. The code is the one written on the wire (frame protocol, pixel header). */
public enum PixelFormat {
    RGB8(1, 3),
    BGR8(2, 3),
    RGBA8(3, 4),
    GRAY8(4, 1);

    private final int code;
    private final int bytesPerPixel;

    PixelFormat(int code, int bytesPerPixel) {
        this.code = code;
        this.bytesPerPixel = bytesPerPixel;
    }

    public int code() {
        return code;
    }

    public int bytesPerPixel() {
        return bytesPerPixel;
    }

    /** The format for a wire code, or null if there is none. */
    public static PixelFormat ofCode(int code) {
        for (PixelFormat f : values()) {
            if (f.code == code) return f;
        }
        return null;
    }
}
