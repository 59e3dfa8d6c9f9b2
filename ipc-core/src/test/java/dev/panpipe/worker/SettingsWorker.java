package dev.panpipe.worker;

import dev.panpipe.connection.Codecs;
import dev.panpipe.connection.ConnectionClosedException;
import dev.panpipe.connection.FrameDescriptor;
import dev.panpipe.connection.Message;
import dev.panpipe.connection.ProtocolException;

import java.io.IOException;

/**
 * A worker that says how it was started, for {@link WorkerSpecTest}. A text message is a question:
 * {@code args} (its arguments, joined by '|'), {@code property NAME}, {@code env NAME}, or {@code reply N}
 * (answer with N zero bytes; "refused: ..." if its own connection refuses that many). Any other message
 * is echoed. It lives in the test classes, so a JVM finds it only through the spec's JVM options.
 */
public final class SettingsWorker {
    private SettingsWorker() {
    }

    public static void main(String[] args) throws IOException {
        try (WorkerContext ctx = WorkerContext.connect()) {
            for (;;) {
                Message m;
                try {
                    m = ctx.receive();
                } catch (ConnectionClosedException endOfInput) {
                    break;
                }
                if (m.type() != FrameDescriptor.TYPE_TEXT) {
                    ctx.reply(m.type(), m.payload());
                    continue;
                }
                String[] q = m.decode(Codecs.text()).split(" ", 2);
                String answer = switch (q[0]) {
                    case "args" -> String.join("|", args);
                    case "property" -> String.valueOf(System.getProperty(q[1]));
                    case "env" -> String.valueOf(System.getenv(q[1]));
                    case "reply" -> {
                        try {
                            ctx.reply(new byte[Integer.parseInt(q[1])], Codecs.bytes());
                            yield null;
                        } catch (ProtocolException e) {
                            yield "refused: " + e.getMessage();
                        }
                    }
                    default -> "no such question: " + q[0];
                };
                if (answer != null) ctx.reply(answer, Codecs.text());
            }
        }
    }
}
