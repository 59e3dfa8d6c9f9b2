package dev.panpipe.connection;

import org.apache.fory.ThreadSafeFory;
import org.apache.fory.config.CompatibleMode;
import org.apache.fory.config.ForyBuilder;
import org.apache.fory.exception.InsecureException;
import org.apache.fory.memory.MemoryBuffer;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Apache Fory (type 5) in Java mode, with class registration required. The only class that touches Fory:
 * {@link Codecs#fory} loads it on first use, so without the Fory jar the rest of panpipe works.
 *
 * <h2>Wire choices</h2>
 * Classes are registered by <em>name</em> ({@link Class#getName()}), not by number: a receiver whose list
 * differs from the sender's refuses the class by name instead of decoding the bytes as whatever class it
 * numbered the same (Fory's numeric ids follow registration order). That costs about 14 bytes per message.
 * Schema-consistent mode (no per-message field metadata; both sides have the same classes), no reference
 * tracking unless asked for, unknown classes never deserialized.
 *
 * <h2>Threads and memory</h2>
 * Fory's thread-safe pool, so a sender thread and a receiver thread (or many virtual threads) may share a
 * codec. Encoding goes into a per-thread reused heap buffer and then one copy into the connection's send
 * buffer (Fory cannot write into a claimed region without knowing the size first); decoding reads the
 * payload in place through a {@link java.nio.ByteBuffer} view, without copying it.
 */
final class ForyCodec<T> implements Codec<T> {
    /** A per-thread encode buffer that grew past this is dropped after use, so one big message does not pin it. */
    private static final int KEEP_BUFFER_LIMIT = 1 << 20;
    private static final Pattern NOT_REGISTERED = Pattern.compile("[Cc]lass (\\S+?)\\.? is not registered");

    private final Class<T> type;
    private final List<String> registered;
    private final ThreadSafeFory fory;
    private final ThreadLocal<MemoryBuffer> encodeBuffers = ThreadLocal.withInitial(() -> MemoryBuffer.newHeapBuffer(256));

    /** Returns the interface type, so that {@link Codecs} links without loading this class or Fory's. */
    static <T> Codec<T> create(Class<T> type, Class<?>[] more, boolean trackReferences) {
        return new ForyCodec<>(type, more, trackReferences);
    }

    private ForyCodec(Class<T> type, Class<?>[] more, boolean trackReferences) {
        this.type = Objects.requireNonNull(type, "type");
        Set<Class<?>> classes = new LinkedHashSet<>();
        List<Class<?>> all = new ArrayList<>(List.of(type));
        all.addAll(Arrays.asList(more));
        for (Class<?> c : all) {
            // Fory names no array class: an array is sent as its registered component type.
            while (Objects.requireNonNull(c, "registered class").isArray()) c = c.getComponentType();
            if (!c.isPrimitive()) classes.add(c);
        }
        this.fory = new ForyBuilder()
                .withXlang(false)
                .requireClassRegistration(true)
                .withDeserializeUnknownClass(false)
                .withCompatibleMode(CompatibleMode.SCHEMA_CONSISTENT)
                .withRefTracking(trackReferences)
                .buildThreadSafeFory();
        List<String> names = new ArrayList<>();
        for (Class<?> c : classes) {
            // Fory registers the JDK types it serializes itself (strings, boxes, collections, Object ...).
            if (!fory.execute(f -> f.getTypeResolver().isRegistered(c))) fory.register(c, c.getName());
            names.add(c.getName());
        }
        this.registered = List.copyOf(names);
    }

    @Override
    public int type() {
        return FrameDescriptor.TYPE_FORY;
    }

    @Override
    public void encode(T value, PayloadWriter out) throws ProtocolException {
        Objects.requireNonNull(value, "value");
        MemoryBuffer buffer = encodeBuffers.get();
        buffer.writerIndex(0);
        try {
            fory.serialize(buffer, value);
        } catch (RuntimeException e) {
            String refused = notRegistered(e);
            if (refused != null) {
                throw new IllegalArgumentException("class " + refused + " is not registered with this Fory codec " + registered
                        + ": pass it to Codecs.fory", e);
            }
            throw e;
        } finally {
            if (buffer.size() > KEEP_BUFFER_LIMIT) encodeBuffers.remove();
        }
        out.put(buffer.getHeapMemory(), 0, buffer.writerIndex());
    }

    @Override
    public T decode(MemorySegment payload) throws ProtocolException {
        long size = payload.byteSize();
        MemoryBuffer in = payload.isNative()
                ? MemoryBuffer.fromByteBuffer(payload.asByteBuffer())
                : MemoryBuffer.fromByteArray(payload.toArray(ValueLayout.JAVA_BYTE));
        Object o;
        try {
            o = fory.deserialize(in);
        } catch (RuntimeException | StackOverflowError e) {
            String refused = notRegistered(e);
            if (refused != null) {
                throw new ProtocolException("fory.class", 0, "refused to deserialize class " + refused
                        + ": not registered with this Fory codec " + registered);
            }
            throw new ProtocolException("fory", size, "bad Fory payload of " + size + " bytes: " + rootCause(e));
        }
        if (in.readerIndex() != size) {
            throw new ProtocolException("fory.length", size, "Fory payload of " + size + " bytes holds one value in its first "
                    + in.readerIndex() + " bytes");
        }
        if (!type.isInstance(o)) {
            throw new ProtocolException("fory.class", 0, "deserialized " + (o == null ? "null" : "a " + o.getClass().getName())
                    + ", expected " + type.getName());
        }
        return type.cast(o);
    }

    /** The class an {@link InsecureException} (anywhere in the chain) names, or null. */
    private static String notRegistered(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof InsecureException && t.getMessage() != null) {
                Matcher m = NOT_REGISTERED.matcher(t.getMessage());
                return m.find() ? m.group(1) : t.getMessage();
            }
            if (t.getCause() == t) break;
        }
        return null;
    }

    private static String rootCause(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) t = t.getCause();
        return t == e ? e.toString() : e + " (" + t + ")";
    }

    @Override
    public String toString() {
        return "ForyCodec" + registered;
    }
}
