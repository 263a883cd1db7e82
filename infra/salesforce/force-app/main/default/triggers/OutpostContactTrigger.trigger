/**
 * Publishes Contact changes for Outpost as Outpost_Sync__e events. All logic, and why it neither calls
 * out nor enqueues, lives in OutpostSyncTriggerHandler.
 */
trigger OutpostContactTrigger on Contact(after insert, after update, after delete, after undelete) {
    OutpostSyncTriggerHandler.handle('Contact', Trigger.operationType, Trigger.new, Trigger.oldMap);
}
