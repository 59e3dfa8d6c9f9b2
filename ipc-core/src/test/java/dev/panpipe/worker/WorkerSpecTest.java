package dev.panpipe.worker;

import dev.panpipe.connection.Codecs;
import dev.panpipe.connection.ProtocolException;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.JavaCommand;
import dev.panpipe.process.Signals;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each setting of a {@link WorkerSpec} reaches a real worker JVM and changes what it does. */
@Timeout(120)
@ExtendWith(LeakCheck.class)
class WorkerSpecTest {
    /** {@link SettingsWorker} is a test class: a worker JVM finds it only if these JVM options reach it. */
    private static WorkerSpec settings(String name, String... args) {
        return WorkerSpec.java(name, SettingsWorker.class, args)
                .jvmOptions("--patch-module", "dev.panpipe.core=" + Path.of("target", "test-classes").toAbsolutePath());
    }

    private static String ask(Worker w, String question) throws Exception {
        w.send(question, Codecs.text());
        return w.take(Codecs.text());
    }

    @Test
    void shouldHandArgumentsJvmOptionsAndEnvironmentToAJavaWorker() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker w = workers.start(settings("settings", "first")
                    .args("second", "with space")
                    .jvmOptions("-Dpanpipe.test.option=on")
                    .environment("PANPIPE_TEST_VARIABLE", "a value = with spaces")
                    .environment("PANPIPE_TEST_OTHER", ""));
            assertEquals("first|second|with space", ask(w, "args"), "args come after the ones of java(...), in order");
            assertEquals("on", ask(w, "property panpipe.test.option"));
            assertEquals("a value = with spaces", ask(w, "env PANPIPE_TEST_VARIABLE"));
            assertEquals("", ask(w, "env PANPIPE_TEST_OTHER"));
            assertEquals(System.getenv("PATH"), ask(w, "env PATH"), "on top of the parent's environment");
            assertEquals("settings", ask(w, "env PANPIPE_WORKER_NAME"));
        }
    }

    @Test
    void shouldAppendArgumentsToACommandWorker() throws Exception {
        try (Workers workers = Workers.create()) {
            String[] java = JavaCommand.of(EchoWorker.class).toArray(String[]::new);
            Worker w = workers.start(WorkerSpec.command("commanded", java).args("--exit-after", "1", "--exit-code", "4"));
            w.send("only one", Codecs.text());
            assertEquals("only one", w.take(Codecs.text()));
            WorkerDiedException e = assertThrows(WorkerDiedException.class, () -> w.take(Codecs.text()));
            assertEquals(ExitStatus.exited(4), e.status(), "the appended --exit-after 1 --exit-code 4 took effect");
        }
    }

    @Test
    void shouldHoldBothSidesToANonDefaultMaximumMessageSize() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker w = workers.start(settings("small").maxMessageSize(4096));
            assertEquals("4096", ask(w, "env PANPIPE_MAX_MESSAGE_SIZE"));
            w.send(new byte[4096]);
            assertEquals(4096, w.take().payload().length, "a message of exactly the maximum goes there and back");
            ProtocolException sent = assertThrows(ProtocolException.class, () -> w.send(new byte[4097]));
            assertEquals("length", sent.field());
            assertEquals(4097, sent.value());
            // the worker's own connection refuses a result over the maximum: it never reaches this side
            assertEquals("refused: encoded message of 4097 bytes exceeds the maximum message size of 4096 bytes", ask(w, "reply 4097"));
            assertEquals("", ask(w, "args"), "the worker goes on after the refusal");
            assertEquals(4, w.sent(), "the message refused here was not sent");
        }
    }

    @Test
    void shouldNameTheResultsFifoAsAsked() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker w = workers.start(settings("named").fifoName("custom.fifo"));
            Path fifo = workers.directory().resolve("custom.fifo");
            assertEquals(fifo.toString(), ask(w, "env PANPIPE_RESULTS"), "the worker opened the FIFO of that name");
            assertFalse(Files.exists(fifo), "unlinked once the worker connected through it, like the default one");
            assertFalse(Files.exists(workers.directory().resolve("named.results")), "and the default name was not used");
        }
    }

    /**
     * A worker that neither ends at end of input (it sleeps before answering) nor at SIGTERM (its launcher
     * ignores it, and the JVM keeps an ignored SIGTERM ignored): close waits the grace period, sends SIGTERM,
     * waits it again, and kills. With the default of 5 s that would take 10 s.
     */
    @Test
    void shouldEndAStubbornWorkerAfterTheGracePeriodAsked() throws Exception {
        try (Workers workers = Workers.create()) {
            Worker w = workers.start(WorkerSpec.java("stubborn", EchoWorker.class, "--delay-ms", "60000")
                    .launchedThrough("sh", "-c", "trap '' TERM; exec \"$@\"", "sh")
                    .destroyGrace(Duration.ofMillis(300)));
            w.send("keeps it busy for a minute", Codecs.text());
            long t0 = System.nanoTime();
            w.close();
            long took = System.nanoTime() - t0;
            assertEquals(Optional.of(ExitStatus.killed(Signals.SIGKILL, false)), w.exitStatus());
            assertTrue(took >= TimeUnit.MILLISECONDS.toNanos(550), "two grace periods of 300 ms, took " + took / 1_000_000 + " ms");
            assertTrue(took < TimeUnit.SECONDS.toNanos(5), "not the default grace period: took " + took / 1_000_000 + " ms");
        }
    }

    @Test
    void shouldConnectWithATimeoutTooLongToCountInMilliseconds() throws Exception {
        try (Workers workers = Workers.create()) {
            // Duration.ofSeconds(Long.MAX_VALUE) used to be "ArithmeticException: long overflow" once the worker had started
            Worker w = workers.start(WorkerSpec.java("patient", EchoWorker.class).connectTimeout(Duration.ofSeconds(Long.MAX_VALUE)));
            w.send("connected", Codecs.text());
            assertEquals("connected", w.take(Codecs.text()));
        }
    }

    @Test
    void shouldRefuseBadSettingsWhenTheyAreGivenNamingWhatIsWrong() {
        WorkerSpec spec = WorkerSpec.java("refusing", EchoWorker.class);
        IllegalArgumentException e;
        e = assertThrows(IllegalArgumentException.class, () -> spec.connectTimeout(Duration.ofSeconds(-1)));
        assertEquals("negative connect timeout: PT-1S", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> spec.destroyGrace(Duration.ofMillis(-1)));
        assertEquals("negative grace period: PT-0.001S", e.getMessage());
        for (String name : new String[] {"a/b", "..", ".", ""}) {
            e = assertThrows(IllegalArgumentException.class, () -> spec.fifoName(name), name);
            assertTrue(e.getMessage().contains("'" + name + "'"), e.getMessage());
        }
        for (String reserved : new String[] {"PANPIPE_RESULTS", "PANPIPE_WORKER_NAME", "PANPIPE_MAX_MESSAGE_SIZE"}) {
            e = assertThrows(IllegalArgumentException.class, () -> spec.environment(reserved, "x"), reserved);
            assertTrue(e.getMessage().contains(reserved) && e.getMessage().contains("set by panpipe"), e.getMessage());
        }
        for (String bad : new String[] {"", "A=B", "NUL\0"}) {
            e = assertThrows(IllegalArgumentException.class, () -> spec.environment(bad, "x"), bad);
            assertTrue(e.getMessage().contains("environment variable name"), e.getMessage());
        }
        e = assertThrows(IllegalArgumentException.class, () -> spec.environment("OK", "a\0b"));
        assertTrue(e.getMessage().contains("OK"), e.getMessage());
        assertThrows(NullPointerException.class, () -> spec.environment("OK", null));
        assertThrows(IllegalArgumentException.class, () -> spec.maxMessageSize(0));
        assertEquals(Duration.ofSeconds(30), spec.connectTimeout(), "a refused setting changes nothing");
        assertEquals(Duration.ofSeconds(5), spec.destroyGrace());
        assertEquals("refusing.results", spec.fifoName());
        assertTrue(spec.environment().isEmpty());
    }
}
