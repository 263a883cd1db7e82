/**
 * Queues the callouts for Contact and Lead changes. Runs as Outpost's integration user (see the
 * PlatformEventSubscriberConfig in org-settings); all logic lives in OutpostSyncEventHandler.
 */
trigger OutpostSyncEventTrigger on Outpost_Sync__e(after insert) {
    OutpostSyncEventHandler.handle(Trigger.new);
}
