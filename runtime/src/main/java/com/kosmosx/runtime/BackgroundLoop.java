package com.kosmosx.runtime;

import io.dropwizard.lifecycle.Managed;

/**
 * A service whose work is one {@link Loop}: start and stop with the application's lifecycle, its
 * loop at hand for a health check and a wakeup. Subclasses write the rounds ({@link
 * Loop.Body#round}) and, where they hold clients, {@link Loop.Body#interrupt} and {@link
 * Loop.Body#reset}.
 */
public abstract class BackgroundLoop implements Managed, Loop.Body {
  private final Loop loop;

  protected BackgroundLoop(String name, Loop.Settings settings) {
    this.loop = new Loop(name, this, settings);
  }

  public final Loop loop() {
    return loop;
  }

  @Override
  public void start() {
    loop.start();
  }

  @Override
  public void stop() throws InterruptedException {
    loop.stop();
  }
}
