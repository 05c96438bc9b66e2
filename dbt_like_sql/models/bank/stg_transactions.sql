-- Transactions of staged customers only (the join keeps the foreign key consistent after
-- staging), typed, with the hour of day derived for models that cannot read timestamps well.
select
    t.transaction_id,
    t.customer_id,
    t."timestamp" as transaction_time,
    cast(extract(hour from t."timestamp") as bigint) as hour_of_day,
    lower(t.merchant_category) as merchant_category,
    round(t.amount, 2) as amount,
    t.channel,
    cast(t.is_fraud as bigint) as is_fraud
from transactions as t
join stg_customers as c on c.customer_id = t.customer_id
