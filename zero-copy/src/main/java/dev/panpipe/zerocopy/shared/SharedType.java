package dev.panpipe.zerocopy.shared;

/** What a shared block holds, as its header records it ({@link #code()}), with the size of one element. */
public enum SharedType {
    /** A {@link SharedLock} alone: no elements. */
    LOCK(1, 0),
    INT(2, Integer.BYTES),
    LONG(3, Long.BYTES),
    /** Doubles, stored as their raw IEEE 754 bits in 8-byte words. */
    DOUBLE(4, Double.BYTES),
    BYTE(5, Byte.BYTES);

    private final int code;
    private final int elementSize;

    SharedType(int code, int elementSize) {
        this.code = code;
        this.elementSize = elementSize;
    }

    /** The number in the header's type field. */
    public int code() {
        return code;
    }

    /** Bytes of one element. */
    public int elementSize() {
        return elementSize;
    }

    /** The type with header code {@code code}, or null. */
    static SharedType ofCode(int code) {
        for (SharedType t : values()) if (t.code == code) return t;
        return null;
    }
}
