package dev.panpipe.connection;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InvalidClassException;
import java.io.ObjectInputFilter;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Java serialization (type 4), only ever read through an {@link ObjectInputFilter} allowlist: a class
 * outside it is refused before it is instantiated, with a {@link ProtocolException} that names it.
 * Depth, references and array lengths are bounded too, so a hostile stream cannot exhaust memory.
 */
final class JavaSerialCodec<T extends Serializable> implements Codec<T> {
    private final Class<T> type;
    private final String allowlist;

    JavaSerialCodec(Class<T> type, String allowlist) {
        this.type = type;
        this.allowlist = allowlist;
    }

    @Override
    public int type() {
        return FrameDescriptor.TYPE_JAVA_SERIAL;
    }

    @Override
    public void encode(T value, PayloadWriter out) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream oos = new ObjectOutputStream(bytes)) {
            oos.writeObject(value);
        }
        byte[] b = bytes.toByteArray();
        out.put(b, 0, b.length);
    }

    @Override
    public T decode(MemorySegment payload) throws ProtocolException {
        // java.lang.Object: collections read their elements through an Object[], and the filter checks an
        // array by its element type. A bare Object has no readObject to abuse; the elements are checked too.
        RecordingFilter filter = new RecordingFilter(ObjectInputFilter.Config.createFilter(
                allowlist + ";java.lang.Object;maxdepth=64;maxrefs=1000000;maxarray=" + (payload.byteSize() + 1) + ";!*"));
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(payload.toArray(ValueLayout.JAVA_BYTE)))) {
            in.setObjectInputFilter(filter);
            Object o = in.readObject();
            if (!type.isInstance(o)) {
                throw new ProtocolException("java-serial.class", 0, "deserialized a " + o.getClass().getName() + ", expected " + type.getName());
            }
            return type.cast(o);
        } catch (InvalidClassException e) {
            String refused = filter.rejected != null ? filter.rejected : "a class or limit";
            throw new ProtocolException("java-serial.class", 0, "refused to deserialize " + refused
                    + ": not in the allowlist [" + allowlist + "]");
        } catch (IOException | ClassNotFoundException e) {
            throw new ProtocolException("java-serial", payload.byteSize(), "bad Java serialization payload: " + e);
        }
    }

    /** Remembers what the allowlist refused, so the error can name it. */
    private static final class RecordingFilter implements ObjectInputFilter {
        private final ObjectInputFilter delegate;
        String rejected;

        RecordingFilter(ObjectInputFilter delegate) {
            this.delegate = delegate;
        }

        @Override
        public Status checkInput(FilterInfo info) {
            Status s = delegate.checkInput(info);
            if (s == Status.REJECTED && rejected == null) {
                rejected = info.serialClass() != null ? "class " + info.serialClass().getName()
                        : "a stream over its limits (depth " + info.depth() + ", refs " + info.references() + ", array " + info.arrayLength() + ")";
            }
            return s;
        }
    }
}
