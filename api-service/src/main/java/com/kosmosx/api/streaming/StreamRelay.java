package com.kosmosx.api.streaming;

import com.kosmosx.api.api.JobView;
import com.kosmosx.api.auth.Caller;
import com.kosmosx.api.db.JobRow;
import com.kosmosx.api.errors.ApiProblem;
import com.kosmosx.api.jobs.JobService;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Relays one job to one streaming client: its start, its text as the worker produces it, then its
 * end, in whatever frames the route speaks (OpenAI chunks or native events). Runs on the request's
 * own thread, which it holds until the job ends or the client goes: a client that reads slowly
 * blocks only this thread, and gets the text that accumulated meanwhile in one frame.
 *
 * <p>The text a client receives is always the final text: deltas are appended only where they
 * continue what was sent, and at the end whatever the deltas did not bring (a lost delta, the tail
 * a stop sequence held back, an image job's answer) is taken from the job's terminal state.
 */
public final class StreamRelay {
  private static final Logger LOG = LoggerFactory.getLogger(StreamRelay.class);

  /** The route's way of saying each thing. */
  public interface Frames {
    void started(Sse sse) throws IOException;

    /** {@code text} starts at {@code offset} of the output text. */
    void text(Sse sse, int offset, String text, Double engineFirstTokenMs) throws IOException;

    /** The job ended; {@code rest} is the output text past what was sent (may be empty). */
    void ended(Sse sse, JobView job, int offset, String rest) throws IOException;
  }

  private final StreamHub hub;
  private final JobService jobs;
  private final long heartbeatMillis;
  private final long checkMillis;
  private final java.util.concurrent.ExecutorService threads =
      java.util.concurrent.Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r, "stream-relay");
            t.setDaemon(true);
            return t;
          });

  /** Work that streams to one client, on a thread of its own (held while the stream lasts). */
  public interface Streaming {
    void run() throws IOException, InterruptedException;
  }

  private final int maxStreams;
  private final int maxPerAccount;
  private final java.util.concurrent.atomic.AtomicInteger open =
      new java.util.concurrent.atomic.AtomicInteger();

  /** Streams held open on this instance now. */
  public int open() {
    return Math.max(0, open.get());
  }

  private final java.util.concurrent.ConcurrentHashMap<String, Integer> perAccount =
      new java.util.concurrent.ConcurrentHashMap<>();

  /** A stream's place, taken before anything is submitted and given back when it ends. */
  public final class Slot {
    private final String account;
    private boolean released;

    private Slot(String account) {
      this.account = account;
    }

    /** Gives the place back (once), for a stream that will not start after all. */
    public synchronized void release() {
      if (!released) {
        released = true;
        StreamRelay.this.release(account);
      }
    }
  }

  /**
   * Takes a stream's place. Each stream holds a thread while it lasts, so their number is bounded,
   * per instance and per account: past either bound this is 429 {@code too_many_streams}, before
   * the caller submits anything.
   */
  public Slot reserve(Caller caller) {
    String account = caller.accountId();
    if (open.incrementAndGet() > maxStreams) {
      open.decrementAndGet();
      throw ApiProblem.tooMany(
          "too_many_streams", "This server holds " + maxStreams + " streams; retry shortly.", 1);
    }
    int mine = perAccount.merge(account, 1, Integer::sum);
    if (mine > maxPerAccount) {
      release(account);
      throw ApiProblem.tooMany(
          "too_many_streams",
          "This account has " + maxPerAccount + " open streams here; close one or retry.",
          1);
    }
    return new Slot(account);
  }

  /**
   * Runs a stream's writer off the request thread (the response and its headers go out now), in the
   * place {@code slot} holds; the place is given back when the writer ends.
   */
  public void start(Slot slot, Streaming work) {
    threads.execute(
        () -> {
          try {
            work.run();
          } catch (IOException gone) {
            LOG.debug("stream lost its client: {}", gone.toString());
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          } catch (RuntimeException e) {
            LOG.error("stream failed", e);
          } finally {
            slot.release();
          }
        });
  }

  private void release(String account) {
    open.decrementAndGet();
    perAccount.computeIfPresent(account, (k, n) -> n <= 1 ? null : n - 1);
  }

  /**
   * @param heartbeatMillis a comment is sent after this long without news (a lost client shows)
   * @param checkMillis the job's row is read this often while it runs, in case an end or a start
   *     was not announced to this instance
   * @param maxStreams streams this instance holds at most
   * @param maxPerAccount streams of one account this instance holds at most
   */
  public StreamRelay(
      StreamHub hub,
      JobService jobs,
      long heartbeatMillis,
      long checkMillis,
      int maxStreams,
      int maxPerAccount) {
    this.maxStreams = maxStreams;
    this.maxPerAccount = maxPerAccount;
    this.hub = hub;
    this.jobs = jobs;
    this.heartbeatMillis = heartbeatMillis;
    this.checkMillis = checkMillis;
  }

  /**
   * Streams until the job ends (true) or the client goes away (false).
   *
   * @param from chars of the output text the client already has (a resumed stream)
   * @param sawStart the client already has the start
   */
  public boolean relay(Caller caller, String jobId, int from, boolean sawStart, Sse sse, Frames f)
      throws InterruptedException {
    JobStream stream = hub.open(jobId);
    try {
      int sent = Math.max(0, from);
      boolean started = sawStart;
      long nextCheck = 0;
      while (true) {
        JobStream.View v = stream.await(sent, started, heartbeatMillis);
        boolean news = false;
        if (!started && v.started()) {
          f.started(sse);
          started = true;
          news = true;
        }
        if (!v.text().isEmpty()) {
          f.text(sse, sent, v.text(), sent == 0 ? v.engineFirstTokenMs() : null);
          sent += v.text().length();
          news = true;
        }
        JobRow row = null;
        if (v.ended() || System.currentTimeMillis() >= nextCheck) {
          row = jobs.rowOf(caller, jobId);
          nextCheck = System.currentTimeMillis() + checkMillis;
        }
        if (row != null && row.terminal()) {
          JobView job = jobs.view(row);
          if (!started && job.startedAt() != null) {
            f.started(sse);
          }
          String text = job.output() == null ? "" : job.output().path("text").asText("");
          String rest = text.length() > sent ? text.substring(sent) : "";
          f.ended(sse, job, sent, rest);
          return true;
        }
        if (row != null && !started && "running".equals(row.status())) {
          f.started(sse);
          started = true;
          news = true;
        }
        if (!news) {
          sse.comment("keep-alive");
        }
      }
    } catch (IOException gone) {
      LOG.debug("stream of job {} lost its client: {}", jobId, gone.toString());
      return false;
    } finally {
      hub.release(stream);
    }
  }
}
