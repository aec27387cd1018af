export * from './notification.entity';
export * from './notifier';
export * from './notifications.service';
