package dev.panpipe.connection;

/**
 * Settings of a connection.
 *
 * @param maxMessageSize the largest payload accepted or sent, in bytes; a frame that claims more is a
 *                       {@link ProtocolException} and nothing is allocated for it
 */
public record ConnectionOptions(int maxMessageSize) {
    /** 256 MiB: a 4K RGBA frame fits ten times over. */
    public static final int DEFAULT_MAX_MESSAGE_SIZE = 256 << 20;

    public ConnectionOptions {
        if (maxMessageSize <= 0 || maxMessageSize > Integer.MAX_VALUE - FrameDescriptor.HEADER_LENGTH) {
            throw new IllegalArgumentException("maxMessageSize must be in 1.." + (Integer.MAX_VALUE - FrameDescriptor.HEADER_LENGTH) + ": " + maxMessageSize);
        }
    }

    public static ConnectionOptions defaults() {
        return new ConnectionOptions(DEFAULT_MAX_MESSAGE_SIZE);
    }

    public ConnectionOptions withMaxMessageSize(int bytes) {
        return new ConnectionOptions(bytes);
    }
}
