/**
 * Queues Contact changes for Outpost. All logic (and the reason no callout happens here) lives in
 * OutpostSyncTriggerHandler.
 */
trigger OutpostContactTrigger on Contact(after insert, after update, after delete, after undelete) {
    OutpostSyncTriggerHandler.handle('Contact', Trigger.operationType, Trigger.new, Trigger.oldMap);
}
