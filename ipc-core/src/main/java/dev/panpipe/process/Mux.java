package dev.panpipe.process;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Named children run side by side, their output merged line by line: a harness for a client and a
 * server, or any set of processes that talk to each other, in a test or at a terminal.
 *
 * {@snippet :
 * try (Mux mux = Mux.builder()
 *         .child("server", List.of("my-server", "--port", "0"))
 *         .child("client", List.of("my-client"))
 *         .output(System.out)                                   // "server: listening on 4711", ...
 *         .start()) {
 *     mux.expect("server", Pattern.compile("listening on (\\d+)"), Duration.ofSeconds(5));
 *     mux.send("client", "connect\n");
 *     mux.expect("client", Pattern.compile("^connected"), Duration.ofSeconds(5));
 *     List<Mux.Exit> exits = mux.await(Mux.Until.ANY);         // the first to end ends the run
 * }   // every child: stdin closed, TERM, KILL after the grace period; FIFOs and their directory removed
 * }
 *
 * <h2>Output</h2>
 * Each line a child writes, on stdout or stderr, becomes a {@link Line} as soon as its newline arrives:
 * written to {@link MuxBuilder#output} as {@code NAME: line}, handed to {@link MuxBuilder#onLine}, and
 * kept for {@link #expect}. Lines are whole: one child's line is never cut by another's. A last line
 * without a newline is delivered when the stream ends; a line longer than {@link MuxBuilder#MAX_LINE}
 * bytes is delivered in pieces of that size.
 *
 * <h2>Input</h2>
 * {@link #send} writes to a child's stdin; with {@link MuxBuilder#fifos} every child also gets a FIFO
 * {@code NAME.in} whose bytes, from any process that writes into it ({@code echo hi > server.in}), go to
 * that child's stdin; {@link MuxBuilder#routeStandardInput} reads lines {@code NAME: text} from this
 * process's stdin and sends {@code text} and a newline to that child. Writes never block the caller: bytes
 * wait in memory until the child reads them (and a FIFO is not read while more than
 * {@link MuxBuilder#MAX_PENDING_INPUT} bytes wait for its child).
 *
 * <p>A FIFO is never left open but unread, which would block its writers for ever once it is full. If
 * passing on what was read from it fails (something the mux calls throws: a {@link MuxBuilder#notices}
 * consumer, say), the child's input from it would have a hole, so nothing more from it is passed on: the
 * FIFO is still read and what is written into it is dropped, with a notice when that begins and one at
 * close saying how many bytes. If it cannot be read at all, the mux closes its ends of it, with a notice:
 * a writer that has it open gets EPIPE, and one that opens it later waits for a reader until close lets
 * it through.
 *
 * <h2>One thread</h2>
 * One epoll loop thread reads every child's stdout and stderr, every FIFO and stdin, writes every stdin
 * and learns of every exit through the children's pidfds: no thread per pipe, no sleep-polling.
 *
 * <h2>Stopping</h2>
 * Each child leads a process group of its own (so a terminal's Ctrl-C reaches only this process, which then
 * stops them in order). {@link #close()} closes every stdin, waits up to the grace period, sends SIGTERM to
 * every child's process group (each process gets it once: a child that left its group is signalled directly)
 * and SIGCONT, so that a stopped child handles it now, waits again, sends SIGKILL, reaps, delivers what the children wrote last,
 * and removes the FIFOs it created and the directory if it created that. A child that ends first is left
 * unreaped until then, so the number of its group stays its own. A child the caller reaps itself, through
 * {@link #process} ({@code waitFor}, {@code destroy} or {@code close} there), keeps its {@link Exit} (it is
 * not lost), but from then on its pid, the group's number, may be given to another process, so close never
 * signals the group by number. From Linux 6.9 it signals the group through the child's pidfd instead
 * ({@code PIDFD_SIGNAL_PROCESS_GROUP}), which names the group itself, so what the child left running there
 * is stopped as any child's; on an older kernel, or once the child's own {@code close} has closed its pidfd,
 * the group is left alone, what it left running there is not stopped, and a notice says so if the group
 * still has members.
 *
 * <h2>Nobody reading</h2>
 * When nobody will see the lines any more (the reader of {@link MuxBuilder#output} has gone away),
 * {@link #closeOutput} does what the reader of a shell pipeline does by going away: the mux stops reading
 * the children's stdout and stderr and closes its ends of those pipes, so a child that writes dies of
 * SIGPIPE at its next write, rather than run on, its output read and dropped, until {@link #close()} has
 * stopped it two grace periods later.
 *
 * <h2>A child lost</h2>
 * The mux learns of a child's end through its pidfd and reads its status with {@code waitid(WNOWAIT)}; the
 * child stays unreaped until {@link #close()}. If that fails (most often because something else reaped the
 * child: a {@code waitid} or {@code waitpid} on its pid outside the mux, and waitid says {@code ECHILD}),
 * how the child ended cannot be known. The child is then <em>lost</em>: it gets no {@link Exit}, a notice
 * says so, {@link #await} throws {@link ChildLostException} instead of waiting for an exit that will never
 * come ({@link #expect} fails at once, with it as the cause), and {@link #close()} throws it too, once it
 * has released everything else. A child reaped elsewhere is never signalled by pid or process group again,
 * as its number may be another process's by then; so what it started in the background is not stopped.
 */
public interface Mux extends AutoCloseable {
    static MuxBuilder builder() {
        return new MuxBuilder();
    }

    /** Which of the two output streams a line came from. */
    enum Stream { STDOUT, STDERR }

    /** When {@link #await} returns: once any child has exited by itself, or once all have. */
    enum Until { ANY, ALL }

    /**
     * One line of a child's output, without its newline.
     *
     * @param complete false for a last line that ended without a newline, or a piece of an over-long line
     */
    record Line(String child, Stream stream, byte[] bytes, boolean complete) {
        /** The line decoded as UTF-8 (malformed bytes replaced). */
        public String text() {
            return new String(bytes, StandardCharsets.UTF_8);
        }

        @Override
        public String toString() {
            return child + ": " + text();
        }
    }

    /**
     * A child's end.
     *
     * @param byItself true if it ended before {@link #close()} began stopping the children
     */
    record Exit(String child, ExitStatus status, boolean byItself) {
    }

    /** The children's names, in the order they were added. */
    List<String> names();

    /**
     * A child's process. Reaping it here ({@code waitFor}, {@code destroy}, {@code close}) gives up its
     * process group's stopping at {@link #close()}: see "Stopping" above.
     *
     * @throws IllegalArgumentException if there is no child of that name
     */
    Subprocess process(String child);

    /** The directory holding the FIFOs, if {@link MuxBuilder#fifos} asked for them. */
    Optional<Path> fifoDirectory();

    /** The FIFO that feeds {@code child}'s stdin, if there are FIFOs. */
    Optional<Path> fifo(String child);

    /**
     * Queues {@code bytes} for the child's stdin and returns at once. Bytes for a child that has exited or
     * closed its stdin are dropped, with a notice.
     */
    void send(String child, byte[] bytes);

    /** {@link #send(String, byte[])} of the text as UTF-8, as it is: add the newline yourself. */
    default void send(String child, String text) {
        send(child, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Closes the child's stdin once the bytes already queued have been written. */
    void endInput(String child);

    /**
     * Waits for a line from {@code child} (stdout or stderr) in which {@code pattern} is found, and
     * returns it. Lines are taken in order from those not yet taken by an earlier {@code expect} for the
     * same child, so a line that came before this call counts too; the lines before the match are used up.
     * Up to {@link MuxBuilder#BACKLOG_LINES} lines are kept per child.
     *
     * @throws ExpectationFailedException if no such line comes within {@code timeout}, or the child ends
     *         first, or none can come as {@link #closeOutput} was called (at once then, once the lines kept
     *         are used up); the exception holds the last lines seen from the child
     * @throws InterruptedException if the calling thread is interrupted while waiting
     */
    Line expect(String child, Pattern pattern, Duration timeout) throws ExpectationFailedException, InterruptedException;

    /** The last lines seen from {@code child} (at most {@link MuxBuilder#RECENT_LINES}), oldest first. */
    List<Line> recentLines(String child);

    /**
     * Waits until any child has exited by itself ({@link Until#ANY}) or every child has exited
     * ({@link Until#ALL}).
     *
     * @return the exits so far, in the order they were seen
     * @throws ChildLostException if a child was lost (see "A child lost" above), at once and whatever
     *         {@code until} asks: from then on every await throws it, naming the first child lost
     * @throws InterruptedException if the calling thread is interrupted while waiting
     */
    List<Exit> await(Until until) throws ChildLostException, InterruptedException;

    /** The exits so far, in the order they were seen. */
    List<Exit> exits();

    /**
     * Stops reading every child's stdout and stderr and closes this mux's read ends of those pipes, as the
     * reader of a shell pipeline does when it goes away: from then on a write to them, by the child or by
     * anything it started that shares them, fails. A child that keeps SIGPIPE's default action (every child
     * starts with every signal's default) dies of SIGPIPE at its next write; one that ignores SIGPIPE gets
     * EPIPE. Its end is recorded as any other: an {@link Exit} killed by signal 13, by itself if
     * {@link #close()} had not begun stopping the children, so {@link #await}{@code (ANY)} returns for it. A
     * child that writes nothing runs on until close stops it.
     *
     * <p>Nothing already read is lost: a line begun but not finished is delivered as it is (not
     * {@link Line#complete}), as at the end of a stream, and lines delivered stay in {@link #recentLines}
     * and for {@link #expect}. What is still in the pipes is dropped unread. Since no line can come any
     * more, {@link #expect} takes what was kept and then fails at once (with
     * {@link ExpectationFailedException#outputClosed()}) instead of waiting for its timeout. Stdins, FIFOs,
     * exits and close are as before.
     *
     * <p>Idempotent, and harmless during or after {@link #close()} (which ends every stream itself). Called
     * from any thread but the mux's own, it returns once the pipes are closed: no line is delivered after
     * it. Called from the mux's own thread (by {@link MuxBuilder#output}'s stream, an {@link
     * MuxBuilder#onLine} or {@link MuxBuilder#notices} consumer), it cannot wait for that thread: it
     * returns at once, and the pipes are closed as soon as the call that reached it returns. Nothing more is
     * read meanwhile, but what was read is not lost there either: the lines after the current one in the
     * same read (at most 64 KiB of one stream) are still delivered, then the unfinished ones, as above.
     */
    void closeOutput();

    /**
     * Stops every child still running (stdin closed, grace period, SIGTERM to its process group, grace
     * period, SIGKILL), reaps them, delivers their last output, stops the loop and removes the FIFOs and
     * the directory this mux created. Idempotent.
     *
     * <p>A failure with one child or file does not stop the others from being stopped, reaped, closed or
     * removed; it is thrown once all of that is done. Neither does an interrupt of the calling thread, which
     * stays set.
     *
     * <p>Not from the mux's own thread (by {@link MuxBuilder#output}'s stream, an {@link MuxBuilder#onLine} or
     * {@link MuxBuilder#notices} consumer): close waits for that thread to deliver the children's last lines,
     * so there it throws instead of waiting for itself for ever. {@link #closeOutput} may be called there.
     *
     * @throws ChildLostException if a child was lost, before or during close (the other failures, if any,
     *         are suppressed in it)
     * @throws IOException if stopping, reaping or removing something failed
     * @throws IllegalStateException if called from the mux's own thread
     */
    @Override
    void close() throws IOException;
}
