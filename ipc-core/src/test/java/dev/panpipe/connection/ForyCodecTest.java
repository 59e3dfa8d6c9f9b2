package dev.panpipe.connection;

import dev.panpipe.io.LeakCheck;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.File;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60)
@ExtendWith(LeakCheck.class)
class ForyCodecTest {
    // Public, in an exported package: Fory's generated serializers live in another module and must see them.
    public record Line(String sku, int quantity, double[] weights) {
    }

    public record Order(long id, String customer, List<Line> lines, Map<String, List<Integer>> tags, int[] codes, Line[] extra) {
    }

    /** A plain mutable class, not a record. */
    public static final class Account {
        public String owner;
        public long balance;
        public List<String> history = new ArrayList<>();
        public Map<String, Account> children = new HashMap<>();
    }

    public record Envelope(String topic, Object body) {
    }

    public record Secret(String command) {
    }

    public record Node(String name, List<Node> next) {
    }

    private static final Codec<Order> ORDERS = Codecs.fory(Order.class, Line.class, Line[].class);

    static Order order(long id) {
        Map<String, List<Integer>> tags = new LinkedHashMap<>();
        tags.put("prio", List.of(1, 2, 3));
        tags.put("empty", new ArrayList<>());
        return new Order(id, "customer-" + id + " ünïcödé ✓",
                List.of(new Line("sku-" + id, (int) id, new double[]{1.5, -0.0, Double.NaN}), new Line("x", 0, new double[0])),
                tags, new int[]{(int) id, -1, Integer.MAX_VALUE}, new Line[]{new Line("e", 1, new double[]{2})});
    }

    static void assertOrderEquals(Order want, Order got) {
        assertEquals(want.id(), got.id());
        assertEquals(want.customer(), got.customer());
        assertEquals(want.tags(), got.tags());
        assertArrayEquals(want.codes(), got.codes());
        assertEquals(want.lines().size(), got.lines().size());
        for (int i = 0; i < want.lines().size(); i++) assertLineEquals(want.lines().get(i), got.lines().get(i));
        assertEquals(want.extra().length, got.extra().length);
        for (int i = 0; i < want.extra().length; i++) assertLineEquals(want.extra()[i], got.extra()[i]);
    }

    static void assertLineEquals(Line want, Line got) {
        assertEquals(want.sku(), got.sku());
        assertEquals(want.quantity(), got.quantity());
        assertArrayEquals(want.weights(), got.weights());
    }

    /** Encodes through a connection's own writer path: a pair, then the bytes of the payload as received. */
    static byte[] encoded(Object value, Codec<Object> codec) throws Exception {
        try (Connection.Pair pair = Connection.pair()) {
            pair.first().send(value, codec);
            return pair.second().receiveBytes();
        }
    }

    @SuppressWarnings("unchecked")
    static <T> Codec<Object> raw(Codec<T> codec) {
        return (Codec<Object>) codec;
    }

    @Test
    void shouldRoundTripRecordsWithNestedListsMapsArraysAndStrings() throws Exception {
        try (Connection.Pair pair = Connection.pair()) {
            Order o = order(42);
            pair.first().send(o, ORDERS);
            Message m = pair.second().receive();
            assertEquals(FrameDescriptor.TYPE_FORY, m.type());
            assertOrderEquals(o, m.decode(ORDERS));
        }
    }

    @Test
    void shouldRoundTripAPlainClassAndAcceptTheSameClassesRegisteredInAnotherOrder() throws Exception {
        Codec<Account> sender = Codecs.fory(Account.class, Order.class, Line.class);
        Codec<Account> receiver = Codecs.fory(Account.class, Line.class, Order.class);   // by name: order does not matter
        Account a = new Account();
        a.owner = "ann";
        a.balance = -7;
        a.history.addAll(List.of("open", "deposit"));
        Account child = new Account();
        child.owner = "kid";
        a.children.put("k", child);
        try (Connection.Pair pair = Connection.pair()) {
            pair.first().send(a, sender);
            Account got = pair.second().receive(receiver);
            assertEquals("ann", got.owner);
            assertEquals(-7, got.balance);
            assertEquals(List.of("open", "deposit"), got.history);
            assertEquals("kid", got.children.get("k").owner);
        }
    }

    @Test
    void shouldCarryAnyRegisteredOrJdkValueThroughAnObjectCodec() throws Exception {
        Codec<Object> any = Codecs.fory(Object.class, Line.class, String.class, ArrayList.class, Line[].class);
        Line line = new Line("s", 2, new double[]{3});
        try (Connection.Pair pair = Connection.pair()) {
            for (Object o : List.of("text", 42L, new ArrayList<>(List.of(line.sku(), "b")), Map.of("k", List.of(1, 2)))) {
                pair.first().send(o, any);
                assertEquals(o, pair.second().receive(any));
            }
            pair.first().send(new Line[]{line, line}, any);
            Line[] got = (Line[]) pair.second().receive(any);
            assertLineEquals(line, got[1]);
        }
    }

    @Test
    void shouldRefuseAnUnregisteredClassOnDecodeNamingIt() throws Exception {
        Codec<Envelope> sender = Codecs.fory(Envelope.class, Secret.class);
        Codec<Envelope> receiver = Codecs.fory(Envelope.class);
        try (Connection.Pair pair = Connection.pair()) {
            pair.first().send(new Envelope("t", new Secret("rm -rf")), sender);
            ProtocolException e = assertThrows(ProtocolException.class, () -> pair.second().receive(receiver));
            assertEquals("fory.class", e.field());
            assertTrue(e.getMessage().contains(Secret.class.getName()), e.getMessage());

            // The root class itself unknown to the receiver.
            pair.first().send(new Secret("x"), Codecs.fory(Secret.class));
            e = assertThrows(ProtocolException.class, () -> pair.second().receive(receiver));
            assertTrue(e.getMessage().contains(Secret.class.getName()), e.getMessage());

            // Known to the receiver, but not the type it expects.
            pair.first().send(order(1), ORDERS);
            e = assertThrows(ProtocolException.class, () -> pair.second().receive(Codecs.fory(Envelope.class, Order.class, Line.class, Line[].class)));
            assertEquals("fory.class", e.field());
            assertTrue(e.getMessage().contains("expected " + Envelope.class.getName()), e.getMessage());
        }
    }

    @Test
    void shouldRefuseAnUnregisteredClassOnEncodeAndStayUsable() throws Exception {
        Codec<Envelope> codec = Codecs.fory(Envelope.class);
        try (Connection.Pair pair = Connection.pair()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> pair.first().send(new Envelope("t", new Secret("x")), codec));
            assertTrue(e.getMessage().contains(Secret.class.getName()), e.getMessage());
            assertThrows(NullPointerException.class, () -> pair.first().send(null, codec));
            pair.first().send(new Envelope("ok", "a string needs no registration"), codec);
            assertEquals(new Envelope("ok", "a string needs no registration"), pair.second().receive(codec));
            assertEquals(1, pair.first().sent());
        }
    }

    /** Decodes {@code bytes} from native memory, as a connection's receive buffer holds them. */
    static Object decodeNative(Codec<?> codec, byte[] bytes, int length) throws ProtocolException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(Math.max(1, length)).asSlice(0, length);
            MemorySegment.copy(bytes, 0, s, ValueLayout.JAVA_BYTE, 0, length);
            return codec.decode(s);
        }
    }

    @Test
    void shouldRefuseGarbageTruncatedAndTrailingBytes() throws Exception {
        Random random = new Random(5);
        for (int i = 0; i < 20_000; i++) {
            byte[] garbage = new byte[random.nextInt(200)];
            random.nextBytes(garbage);
            assertThrows(ProtocolException.class, () -> decodeNative(ORDERS, garbage, garbage.length));
        }
        byte[] good = encoded(order(7), raw(ORDERS));
        assertOrderEquals(order(7), (Order) decodeNative(ORDERS, good, good.length));
        for (int n = 0; n < good.length; n++) {
            int length = n;
            ProtocolException e = assertThrows(ProtocolException.class, () -> decodeNative(ORDERS, good, length), "prefix " + n);
            assertTrue(e.field().startsWith("fory"), e.field());
        }
        byte[] longer = Arrays.copyOf(good, good.length + 1);
        assertEquals("fory.length", assertThrows(ProtocolException.class, () -> decodeNative(ORDERS, longer, longer.length)).field());
        // The heap path (a codec called on an array-backed segment) refuses the same way.
        assertThrows(ProtocolException.class, () -> ORDERS.decode(MemorySegment.ofArray(Arrays.copyOf(good, good.length - 1))));
    }

    @Test
    void shouldNeverAllocateForAForgedLengthOrCount() throws Exception {
        byte[] good = encoded(order(7), raw(ORDERS));
        Random random = new Random(11);
        byte[][] forgeries = {{(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x07}, {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f},
                {(byte) 0xfe, (byte) 0xff, (byte) 0xff, 0x3f}, {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x08}};
        for (byte[] forged : forgeries) {
            for (int at = 0; at < good.length; at++) {
                byte[] b = good.clone();
                System.arraycopy(forged, 0, b, at, Math.min(forged.length, b.length - at));
                decodeOrRefuse(b);
            }
        }
        for (int i = 0; i < 20_000; i++) {                      // random mutations of a valid payload
            byte[] b = good.clone();
            for (int k = 1 + random.nextInt(3); k > 0; k--) b[random.nextInt(b.length)] = (byte) random.nextInt(256);
            decodeOrRefuse(b);
        }
    }

    /** A forged payload may decode to some Order, or be refused; anything else (an Error, another exception) fails. */
    private static void decodeOrRefuse(byte[] b) {
        try {
            decodeNative(ORDERS, b, b.length);
        } catch (ProtocolException expected) {
            assertTrue(expected.field().startsWith("fory"), expected.field());
        }
    }

    @Test
    void shouldKeepOrderWithConcurrentSendersAndReceiversSharingOneCodec() throws Exception {
        int count = 10_000;
        try (Connection.Pair pair = Connection.pair(); ExecutorService pool = Executors.newFixedThreadPool(4)) {
            List<Future<?>> work = new ArrayList<>();
            for (Connection[] dir : new Connection[][]{{pair.first(), pair.second()}, {pair.second(), pair.first()}}) {
                work.add(pool.submit(() -> {
                    for (int i = 0; i < count; i++) dir[0].send(order(i), ORDERS);
                    return null;
                }));
                work.add(pool.submit(() -> {
                    for (int i = 0; i < count; i++) {
                        Order got = dir[1].receive(ORDERS);
                        assertEquals(i, got.id());
                        assertEquals("customer-" + i + " ünïcödé ✓", got.customer());
                    }
                    return null;
                }));
            }
            for (Future<?> f : work) f.get();
            assertEquals(count, pair.first().received());
            assertEquals(count, pair.second().received());
        }
    }

    @Test
    void shouldWorkWithoutTheForyJarUntilForyIsAskedFor() throws Exception {
        String modulePath = Arrays.stream(System.getProperty("jdk.module.path").split(File.pathSeparator))
                .filter(p -> !Path.of(p).getFileName().toString().startsWith("fory-"))
                .collect(Collectors.joining(File.pathSeparator));
        // panpipe's own Subprocess, not ProcessBuilder: the JDK closes some of its pipes later, on its
        // reaper thread, which LeakCheck sees as a leak now and then.
        try (Subprocess java = Subprocess.builder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=dev.panpipe.bindings,dev.panpipe.core", "-p", modulePath,
                "--patch-module", "dev.panpipe.core=" + Path.of("target", "test-classes").toAbsolutePath(),
                "-m", "dev.panpipe.core/" + ForyAbsentMain.class.getName())
                .stdin(Redirect.discard()).stdout(Redirect.pipe()).mergeStderr().start()) {
            String out = new String(java.stdout().asInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(java.waitFor().success(), out);
            assertTrue(out.contains("text hi"), out);
            assertTrue(out.contains("refused: Codecs.fory needs Apache Fory") && out.contains("--add-modules org.apache.fory.core"), out);
        }
    }

    @Test
    void shouldKeepSharedObjectsSharedOnlyWhenTrackingReferences() throws Exception {
        Node leaf = new Node("leaf", List.of());
        Node root = new Node("root", List.of(leaf, leaf));
        try (Connection.Pair pair = Connection.pair()) {
            Codec<Node> tracking = Codecs.foryTrackingReferences(Node.class);
            pair.first().send(root, tracking);
            Node got = pair.second().receive(tracking);
            assertSame(got.next().get(0), got.next().get(1));

            Codec<Node> plain = Codecs.fory(Node.class);
            pair.first().send(root, plain);
            got = pair.second().receive(plain);
            assertNotSame(got.next().get(0), got.next().get(1));
            assertEquals("leaf", got.next().get(1).name());
        }
    }
}
