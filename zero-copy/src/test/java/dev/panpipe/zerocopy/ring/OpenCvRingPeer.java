package dev.panpipe.zerocopy.ring;

import dev.panpipe.pixel.PixelFormat;
import nu.pattern.OpenCV;
import org.opencv.core.Core;
import org.opencv.core.CvType;
import org.opencv.core.Mat;
import org.opencv.imgproc.Imgproc;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;

/**
 * A ring peer in a child JVM that converts frames with OpenCV's Java API without copying a byte: it takes
 * RGB8 frames from the ring handed over as fd 3 and writes their luma into slots of the ring at fd 4,
 * {@code cv2.cvtColor}'s Java twin reading one shared slot and writing another through {@link Mat} headers
 * over direct {@link ByteBuffer}s of the mapping. Prints {@code frames N opencv VERSION}; exits 3 with
 * "opencv unavailable" where org.openpnp:opencv has no native library for this machine.
 *
 * <p>Started with the opencv jar on the module path (automatic module {@code opencv}), so its
 * {@code System.load} is granted native access by module name.
 */
public final class OpenCvRingPeer {
    private OpenCvRingPeer() {
    }

    public static void main(String[] args) throws Exception {
        try {
            OpenCV.loadLocally();
        } catch (Throwable t) {
            System.out.println("opencv unavailable: " + t);
            System.exit(3);
        }
        long frames = 0;
        try (FrameRing in = FrameRing.map(3); FrameRing out = FrameRing.map(4)) {
            FrameConsumer consumer = in.consumer();
            FrameProducer producer = out.producer();
            for (;; frames++) {
                FrameView rgb;
                try {
                    rgb = consumer.take();
                } catch (FrameRingClosedException endOfStream) {
                    break;
                }
                FrameClaim gray = producer.claim(rgb.width(), rgb.height(), PixelFormat.GRAY8);
                toGray(rgb, gray);
                gray.commit();
                rgb.release();
            }
            producer.close();
        }
        System.out.println("frames " + frames + " opencv " + Core.VERSION);
    }

    /** cvtColor from one shared slot straight into another: both Mats are headers over the mapping. */
    static void toGray(FrameView src, FrameClaim dst) {
        ByteBuffer srcBuffer = src.pixels().asByteBuffer();   // direct: its address is the slot's
        ByteBuffer dstBuffer = dst.pixels().asByteBuffer();
        Mat rgb = new Mat(src.height(), src.width(), CvType.CV_8UC3, srcBuffer, src.stride());
        Mat gray = new Mat(dst.height(), dst.width(), CvType.CV_8UC1, dstBuffer, dst.stride());
        try {
            if (rgb.dataAddr() != src.pixels().address() || gray.dataAddr() != dst.pixels().address()) {
                throw new IllegalStateException("frame " + src.sequence() + ": a Mat is not over the ring's slot");
            }
            Imgproc.cvtColor(rgb, gray, Imgproc.COLOR_RGB2GRAY);
            if (gray.dataAddr() != dst.pixels().address()) {
                throw new IllegalStateException("frame " + src.sequence() + ": cvtColor reallocated its output instead of writing the slot");
            }
        } finally {
            rgb.release();
            gray.release();
            // A Mat keeps the buffer's address, not the buffer. Here the mapping lives as long as the FrameRing
            // (its arena), but over memory that a buffer owns (ByteBuffer.allocateDirect, an automatic arena)
            // only the buffer's reachability keeps it: so keep both reachable until OpenCV is done.
            Reference.reachabilityFence(srcBuffer);
            Reference.reachabilityFence(dstBuffer);
        }
    }
}
